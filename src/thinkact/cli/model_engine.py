"""``thinkact model quantize`` and ``thinkact model generate`` (INT4 + inference engine).

Registered on the ``model`` sub-app by ``cli/model.py`` through :func:`register_commands`.
torch is imported inside the commands only: the core CLI must start without the model stack.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer


def register_commands(model_app: typer.Typer) -> None:
    """Add ``quantize`` and ``generate`` to the ``thinkact model`` sub-app."""
    model_app.command("quantize")(quantize)
    model_app.command("generate")(generate)


def quantize(
    src: Annotated[Path, typer.Argument(help="float HF-format checkpoint directory")],
    dst: Annotated[Path, typer.Argument(help="output directory for the INT4 checkpoint")],
    group_size: Annotated[int, typer.Option(help="input columns per scale")] = 32,
    scale_rule: Annotated[
        str, typer.Option(help="absmax/7.5 (compressed-tensors) or absmax/7")
    ] = "absmax/7.5",
) -> None:
    """Convert routed experts to compressed-tensors pack-quantized INT4 (the rest stays)."""
    from thinkact.model.int4 import SCALE_RULES
    from thinkact.model.int4_checkpoint import quantize_checkpoint

    if scale_rule not in SCALE_RULES:
        raise typer.BadParameter(f"--scale-rule must be one of {sorted(SCALE_RULES)}")
    if not (src / "config.json").exists():
        raise typer.BadParameter(f"{src} has no config.json (expected an HF checkpoint dir)")
    try:
        stats = quantize_checkpoint(src, dst, group_size, scale_rule)  # type: ignore[arg-type]
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    ratio = stats["bytes_out"] / max(stats["bytes_in"], 1)
    typer.echo(
        f"quantized {stats['quantized_linears']} expert Linears to INT4 (group {group_size}): "
        f"{stats['bytes_in'] / 1e6:.1f} MB -> {stats['bytes_out'] / 1e6:.1f} MB ({ratio:.2f}x) "
        f"in {dst}"
    )


def _encode_prompt(prompt: str, vocab_size: int, tokenizer_dir: Path) -> tuple[list[int], Any]:
    """Tokenize with the K2 tokenizer stored next to the weights, else UTF-8 bytes (0-255)."""
    has_tok = any((tokenizer_dir / f).exists() for f in ("tokenizer.json", "tiktoken.model"))
    if has_tok:
        from thinkact.chat_format.tokenizer import load_tokenizer

        tok = load_tokenizer(tokenizer_dir)
        ids = tok.encode(prompt)
        if ids and max(ids) >= vocab_size:
            raise typer.BadParameter(f"tokenizer in {tokenizer_dir} exceeds vocab {vocab_size}")
        return ids, tok
    if vocab_size < 256:
        raise typer.BadParameter(f"vocab {vocab_size} < 256: pass --prompt-ids instead of --prompt")
    return list(prompt.encode("utf-8")), None


def generate(
    checkpoint: Annotated[Path, typer.Argument(help="HF-format checkpoint (float or INT4)")],
    prompt: Annotated[str | None, typer.Option(help="prompt text")] = None,
    prompt_ids: Annotated[str | None, typer.Option(help="comma-separated token ids")] = None,
    max_new_tokens: Annotated[int, typer.Option(help="tokens to generate per row")] = 32,
    temperature: Annotated[float, typer.Option(help="0 = greedy")] = 0.0,
    top_p: Annotated[float, typer.Option()] = 1.0,
    top_k: Annotated[int, typer.Option()] = 0,
    seed: Annotated[int, typer.Option(help="row i samples with seed + i")] = 0,
    batch: Annotated[int, typer.Option(help="rows decoded together from one prefill")] = 1,
    stop_ids: Annotated[str, typer.Option(help="comma-separated stop token ids")] = "",
    threads: Annotated[int, typer.Option(help="torch threads (0: leave default)")] = 0,
    tokenizer: Annotated[
        Path | None, typer.Option(help="tokenizer dir (default: the checkpoint dir)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Generate from a checkpoint with the KV-cached engine (a quick look, not a chat UI)."""
    import torch

    from thinkact.model.checkpoint import load_checkpoint
    from thinkact.model.engine import Session
    from thinkact.model.sampling import SamplingParams

    if (prompt is None) == (prompt_ids is None):
        raise typer.BadParameter("pass exactly one of --prompt or --prompt-ids")
    if threads:
        torch.set_num_threads(threads)
    model = load_checkpoint(checkpoint).eval()
    vocab = model.config.vocab_size
    tok = None
    if prompt_ids is not None:
        try:
            ids = [int(x) for x in prompt_ids.split(",") if x.strip()]
        except ValueError as exc:
            raise typer.BadParameter(f"--prompt-ids must be integers: {prompt_ids!r}") from exc
    else:
        assert prompt is not None
        ids, tok = _encode_prompt(prompt, vocab, tokenizer or checkpoint)
    if not ids or min(ids) < 0 or max(ids) >= vocab:
        raise typer.BadParameter(f"prompt ids must be non-empty and in [0, {vocab})")
    stops = [int(x) for x in stop_ids.split(",") if x.strip()]
    session = Session(model, len(ids) + max_new_tokens + 1)
    t0 = time.perf_counter()
    session.feed(ids)
    t1 = time.perf_counter()
    runner = session.fork(batch) if batch > 1 else session
    out = runner.generate(
        max_new_tokens, SamplingParams(temperature, top_p, top_k), seed, stop_tokens=stops
    )
    t2 = time.perf_counter()
    n_new = sum(len(r) for r in out.tokens)
    result: dict[str, Any] = {
        "prompt_tokens": len(ids),
        "rows": [
            {"tokens": toks, "finish_reason": why}
            for toks, why in zip(out.tokens, out.finish_reasons, strict=True)
        ],
        "prefill_s": round(t1 - t0, 4),
        "decode_tok_s": round(n_new / max(t2 - t1, 1e-9), 1),
    }
    for row in result["rows"]:
        if tok is not None:
            row["text"] = tok.decode(row["tokens"])
        elif prompt is not None:
            row["text"] = bytes(t for t in row["tokens"] if t < 256).decode("utf-8", "replace")
    if as_json:
        typer.echo(json.dumps(result))
        return
    for i, row in enumerate(result["rows"]):
        typer.echo(f"[{i}] ({row['finish_reason']}) {row.get('text', row['tokens'])}")
    typer.echo(
        f"prompt {len(ids)} tokens, prefill {result['prefill_s']} s, "
        f"decode {result['decode_tok_s']} tok/s ({batch} row(s))"
    )
