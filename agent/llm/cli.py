"""`steve llm`: talk to an LLM backend directly, to check it answers before a long run."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

llm_app = typer.Typer(help="LLM backends: check that one answers.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)

CHECK_SCHEMA = {
    "type": "object",
    "properties": {
        "plan": {
            "type": "array",
            "minItems": 1,
            "maxItems": 3,
            "items": {
                "type": "object",
                "properties": {
                    "verb": {"enum": ["mine", "craft", "place"]},
                    "target": {"enum": ["oak_log", "oak_planks", "stick", "crafting_table"]},
                    "count": {"type": "integer", "minimum": 1, "maximum": 64},
                },
                "required": ["verb", "target", "count"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["plan"],
    "additionalProperties": False,
}
CHECK_MESSAGES = [
    {
        "role": "system",
        "content": 'Reply with JSON only: {"plan": [{"verb": ..., "target": ..., "count": ...}]}.',
    },
    {"role": "user", "content": "You have nothing and stand in a forest. Plan how to get sticks."},
]


@llm_app.callback()
def _group() -> None:
    """LLM backends: check that one answers."""


@llm_app.command("check")
def check(
    backend: Annotated[
        str,
        typer.Option(
            "--backend", "--planner", help="local | openai | transformers (llm: prefix allowed)."
        ),
    ] = "local",
    model: Annotated[
        str | None,
        typer.Option(help="GGUF file (local), model name (openai) or model folder/GGUF."),
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    ] = None,
    max_tokens: Annotated[int, typer.Option(help="Completion token cap.")] = 96,
    timeout: Annotated[float, typer.Option(help="Seconds per request (openai).")] = 30.0,
    structured: Annotated[
        str,
        typer.Option(help="openai: json_schema | guided_json | grammar | json_object | none."),
    ] = "json_schema",
) -> None:
    """Send one schema-constrained request and print what came back."""
    from rich.markup import escape

    from agent.llm import LLMError, make_client

    name = backend.removeprefix("llm:")
    opts: dict[str, object] = {}
    if name == "openai":
        opts = {"timeout": timeout, "structured": structured}
    try:
        with console.status(f"loading {name} backend"):
            client = make_client(name, model=model, base_url=base_url, **opts)
        with console.status(f"asking {client.model}"):
            done = client.complete(CHECK_MESSAGES, CHECK_SCHEMA, max_tokens=max_tokens)
    except (LLMError, ValueError) as exc:  # plain text: an install hint's `[llm]` is no tag
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(code=2) from None
    shown = escape(done.text) if done.text else "[dim](empty)[/]"  # the model's: not markup
    console.print(Panel(shown, title="text", expand=False))
    parsed = (
        escape(json.dumps(done.parsed, indent=1)) if done.parsed is not None else "[red]unparsed[/]"
    )
    console.print(Panel(parsed, title="parsed", expand=False))
    table = Table(show_header=False)
    rate = done.completion_tokens / done.latency_s if done.latency_s else 0.0
    for key, value in (
        ("backend", done.backend),
        ("model", done.model),
        ("prompt tokens", str(done.prompt_tokens)),
        ("completion tokens", str(done.completion_tokens)),
        ("latency", f"{done.latency_s:.3f} s"),
        ("completion tokens/s", f"{rate:.1f}"),
    ):
        table.add_row(key, value)
    console.print(table)
    if done.parsed is None:
        raise typer.Exit(code=1)
