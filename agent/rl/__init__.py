"""The policy-gradient module: parametric self-evolution (the `rl` extra, `steve train`).

GRPO with LoRA for the LLM planner on multi-turn episodes played through the ordinary loop,
a reward shaped by the diagnosis's progress indicators, and co-evolution of the experience
extractor (rewarded by the improvement its experience brings to the planner). torch, peft and
trl are imported only inside; docs/rl.md has the design and the CPU and GPU paths.
"""
