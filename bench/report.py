"""Turn benchmark results (JSON from bench/bench.py) into BENCHMARKS.md and a bar chart.

    python bench/report.py bench/results/default.json [bench/results/unset.json]

The first file is the environment as it is; the second, if given, the same
run with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {
    "seed_ratio": 0.40, "wide_ratio": 0.75, "ceiling_share": 0.90, "seed_speedup": 3.0,
    "seed_cost_rel": 1e-5, "seed_memory": 0.5, "time_to_98": 5.0, "time_to_98_vs_torch": 0.5,
    "train_rss_mb": 300,
}


def load(path):
    return json.loads(Path(path).read_text())


def fmt_ok(ok: bool) -> str:
    return "met" if ok else "**missed**"


def over(measured, wanted, fmt) -> str:
    """How far a figure that should be at most ``wanted`` is above it ("" if it is not)."""
    return "" if measured <= wanted else f"{fmt.format(measured - wanted)} ({measured / wanted - 1:.0%} over)"


def under(measured, wanted, fmt) -> str:
    """How far a figure that should be at least ``wanted`` is below it ("" if it is not)."""
    if measured >= wanted:
        return ""
    return f"{fmt.format(wanted - measured)} ({1 - measured / wanted:.0%} short)"


def epoch_table(r) -> list[str]:
    lines = ["| network | contender | s / epoch (median) | samples / s | digitnet / contender |",
             "| --- | --- | --- | --- | --- |"]
    for label, entry in r["epochs"].items():
        ours = entry["epochs"]["digitnet"]["median"]
        for name, e in entry["epochs"].items():
            ratio = "" if name == "digitnet" else f"{ours / e['median']:.2f}"
            lines.append(f"| {label} | {name} | {e['median']:.3f} | {e['samples_per_s']:,.0f} | {ratio} |")
    return lines


def throughput_table(r, ceiling) -> list[str]:
    from bench import flops_per_example

    _, run = flops_per_example((512, 512))
    lines = ["| batch | digitnet samples/s | PyTorch | PyTorch fused Adam | digitnet / fused (time) "
             "| matmul ceiling, same rounds | digitnet share of it |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for batch, entry in r["throughput"].items():
        ours = entry["digitnet"]["samples_per_s"]
        fused = entry["pytorch fused Adam"]["samples_per_s"]
        rounds_ceiling = ceiling_of(entry, ceiling)
        share = ours * run / 1e9 / rounds_ceiling
        lines.append(f"| {batch} | {ours:,.0f} | {entry['pytorch']['samples_per_s']:,.0f} | {fused:,.0f} "
                     f"| {fused / ours:.2f} | {rounds_ceiling:.0f} GFLOP/s | {share:.0%} |")
    return lines


def ceiling_of(entry, start_of_run: float) -> float:
    """The ceiling measured in the same rounds as a throughput entry (older results: at the start)."""
    return entry.get("matmul ceiling", {}).get("gflops", start_of_run)


def targets(r) -> tuple[list[str], dict]:
    e = r["epochs"]
    seed_net, wide = e["seed network 784-50-50-50-10"]["epochs"], e["wide 784-512-512-10"]["epochs"]
    seed_ratio = seed_net["digitnet"]["median"] / seed_net["pytorch"]["median"]
    wide_ratio = wide["digitnet"]["median"] / wide["pytorch"]["median"]
    from bench import flops_per_example

    _, run = flops_per_example((512, 512))
    ceiling = r["ceiling"]["gflops"]
    at_2048 = r["throughput"]["2048"]
    share = at_2048["digitnet"]["samples_per_s"] * run / 1e9 / ceiling_of(at_2048, ceiling)
    fused_ahead = all(t["digitnet"]["samples_per_s"] > t["pytorch fused Adam"]["samples_per_s"]
                      for t in r["throughput"].values())
    s = r["seed"]
    speedup = s["literal_s_per_iteration"] / s["digitnet_s_per_iteration"]
    mem = r["memory"]
    mem_ratio = mem["digitnet-seed"] / mem["literal-seed"]
    t98 = r["time_to_98"]
    t_ours, t_torch = t98["digitnet_s"], t98["pytorch_s"]
    behind = [b for b, t in r["throughput"].items()
              if t["digitnet"]["samples_per_s"] <= t["pytorch fused Adam"]["samples_per_s"]]
    rows = [
        ("epoch time digitnet / PyTorch, seed network", f"<= {TARGETS['seed_ratio']}", f"{seed_ratio:.2f}",
         seed_ratio <= TARGETS["seed_ratio"], over(seed_ratio, TARGETS["seed_ratio"], "{:.2f}")),
        ("epoch time digitnet / PyTorch, wide network", f"<= {TARGETS['wide_ratio']}", f"{wide_ratio:.2f}",
         wide_ratio <= TARGETS["wide_ratio"], over(wide_ratio, TARGETS["wide_ratio"], "{:.2f}")),
        ("ahead of PyTorch fused Adam at every batch size", "yes", "yes" if fused_ahead else "no",
         fused_ahead, f"behind at batch {', '.join(behind)}" if behind else ""),
        ("share of matmul ceiling, wide, batch 2048", f">= {TARGETS['ceiling_share']:.0%}", f"{share:.0%}",
         share >= TARGETS["ceiling_share"],
         under(share * 100, TARGETS["ceiling_share"] * 100, "{:.0f} points")),
        ("seed preset speed-up per iteration vs literal code", f">= {TARGETS['seed_speedup']}x",
         f"{speedup:.2f}x", speedup >= TARGETS["seed_speedup"],
         under(speedup, TARGETS["seed_speedup"], "{:.2f}x")),
        ("seed costs at every 100th iteration, max relative difference", f"<= {TARGETS['seed_cost_rel']:g}",
         f"{s['max_relative_cost_difference']:.1e}",
         s["max_relative_cost_difference"] <= TARGETS["seed_cost_rel"], ""),
        ("seed preset peak memory / literal code", f"<= {TARGETS['seed_memory']}", f"{mem_ratio:.2f}",
         mem_ratio <= TARGETS["seed_memory"], over(mem_ratio, TARGETS["seed_memory"], "{:.2f}")),
        ("default preset: training seconds to 98.0% test accuracy", f"<= {TARGETS['time_to_98']} s",
         f"{t_ours:.1f} s" if t_ours else "not reached", bool(t_ours) and t_ours <= TARGETS["time_to_98"],
         over(t_ours, TARGETS["time_to_98"], "{:.1f} s") if t_ours else "not reached"),
        ("... and / PyTorch with the same recipe", f"<= {TARGETS['time_to_98_vs_torch']}",
         f"{t_ours / t_torch:.2f}" if t_ours and t_torch else "n/a",
         bool(t_ours and t_torch) and t_ours / t_torch <= TARGETS["time_to_98_vs_torch"],
         over(t_ours / t_torch, TARGETS["time_to_98_vs_torch"], "{:.2f}") if t_ours and t_torch else "n/a"),
        ("peak RSS training the default preset on MNIST", f"< {TARGETS['train_rss_mb']} MB",
         f"{mem['digitnet-quick']:.0f} MB", mem["digitnet-quick"] < TARGETS["train_rss_mb"],
         over(mem["digitnet-quick"], TARGETS["train_rss_mb"], "{:.0f} MB")),
    ]
    lines = ["| target | wanted | measured | | missed by |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {name} | {want} | {got} | {fmt_ok(ok)} | {'' if ok else gap} |"
              for name, want, got, ok, gap in rows]
    return lines, {"seed_ratio": seed_ratio, "wide_ratio": wide_ratio, "share": share, "speedup": speedup,
                   "mem_ratio": mem_ratio}


def environment_lines(r) -> list[str]:
    env = r["environment"]
    blas = "; ".join(f"{b.get('internal_api')} {b.get('version')} kernel {b.get('architecture')} "
                     f"({b.get('num_threads')} threads, {b.get('prefix')})" for b in env["blas"])
    commands = r.get("commands") or {"all": r.get("command")}
    ran = "; ".join(f"{part}: `{cmd}`" for part, cmd in commands.items())
    return [f"- date: {env['date']}; commands: {ran}",
            f"- CPU: {env['cpu']} ({env['cores']} cores); Python {env['python']}, NumPy {env['numpy']}, "
            f"PyTorch {env['torch']}, scikit-learn {env['sklearn']}; "
            f"{env['threads']} threads for every library",
            f"- OPENBLAS_CORETYPE={env['OPENBLAS_CORETYPE']}, OPENBLAS_L2_SIZE={env['OPENBLAS_L2_SIZE']}",
            f"- BLAS (threadpoolctl): {blas}",
            f"- float32 matmul ceiling measured in the same run: {r['ceiling']['gflops']:.0f} GFLOP/s "
            f"(best of {', '.join(f'{k}: {v:.0f}' for k, v in r['ceiling']['by_shape'].items())})"]


def section(r, title) -> list[str]:
    target_lines, _ = targets(r)
    s, t98, mem = r["seed"], r["time_to_98"], r["memory"]
    lines = [f"## {title}", ""] + environment_lines(r) + ["", "### Targets", ""] + target_lines
    lines += ["", "### Epoch time (Adam lr 1e-3, batch 128, 55,000 images)", ""] + epoch_table(r)
    lines += ["", "### Step throughput, wide network 784-512-512-10 (16,384 images a pass)", ""]
    lines += throughput_table(r, r["ceiling"]["gflops"])
    lines += ["", "Share of ceiling counts the FLOPs digitnet actually runs: "
              "6 x batch x sum(fan_in x fan_out),"
              " less the first layer's input gradient, which it skips; the ceiling is the best float32 GEMM"
              " rate of three large shapes, measured between the contenders' passes in the same rounds"
              " (this machine's speed drifts within a run).", "",
              "### The seed recipe: full-batch gradient descent on 60,000 images", "",
              f"- digitnet `--preset seed`: {s['digitnet_s_per_iteration'] * 1000:.0f} ms per iteration; "
              f"the literal blog code (float64): {s['literal_s_per_iteration'] * 1000:.0f} ms; speed-up "
              f"{s['literal_s_per_iteration'] / s['digitnet_s_per_iteration']:.2f}x",
              "- costs at iterations 0, 100, ... from the same initial weights "
              f"({s['iterations']} iterations):",
              "  digitnet " + ", ".join(f"{c:.6f}" for c in s["digitnet_costs_every_100"]),
              "  literal  " + ", ".join(f"{c:.6f}" for c in s["literal_costs_every_100"]),
              f"  max relative difference {s['max_relative_cost_difference']:.1e}; digitnet's test accuracy "
              f"after the run {s['digitnet_test_accuracy']:.2%}",
              f"- peak RSS: digitnet {mem['digitnet-seed']:.0f} MB, literal {mem['literal-seed']:.0f} MB", "",
              "### Time to 98.0% test accuracy (default preset recipe)", "",
              f"- {t98['recipe']}",
              (f"- digitnet: {t98['digitnet_s']:.1f} s of training" if t98["digitnet_s"]
               else "- digitnet: not reached"),
              (f"- PyTorch, same recipe: {t98['pytorch_s']:.1f} s" if t98["pytorch_s"]
               else "- PyTorch: not reached"),
              "", "### Peak memory (RSS, each in a fresh process)", "",
              "| case | MB |", "| --- | --- |"]
    lines += [f"| {k} | {v:.0f} |" for k, v in mem.items()]
    return lines + [""]


def bar_chart(results, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = results[0][1]
    labels, series = [], {}
    for label, entry in r["epochs"].items():
        labels.append(label.split(" 784")[0])
        for name, e in entry["epochs"].items():
            series.setdefault(name, []).append(e["median"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / len(series)
    for i, (name, values) in enumerate(series.items()):
        axes[0].bar([x + i * width for x in range(len(labels))], values, width, label=name)
    axes[0].set_xticks([x + 0.4 - width / 2 for x in range(len(labels))], labels)
    axes[0].set_ylabel("seconds per epoch (lower is better)")
    axes[0].set_title("Epoch time, Adam, batch 128")
    axes[0].legend(fontsize=8)
    batches = list(r["throughput"])
    for name in ("digitnet", "pytorch", "pytorch fused Adam"):
        axes[1].plot(batches, [r["throughput"][b][name]["samples_per_s"] for b in batches], "o-", label=name)
    axes[1].set_xlabel("batch size")
    axes[1].set_ylabel("samples per second (higher is better)")
    axes[1].set_title("Step throughput, 784-512-512-10")
    axes[1].legend(fontsize=8)
    fig.suptitle(f"One run ({r['environment']['date']}, environment as it is); this machine's speed "
                 "drifts, see BENCHMARKS.md for the ranges over several runs", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(paths) -> int:
    results = [(p, load(p)) for p in paths]
    titles = ["Environment as it is", "With OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset"]
    lines = ["# Benchmarks", "",
             "Regenerate with `make bench` (installs PyTorch 2.13.0 CPU and scikit-learn into `.venv`, "
             "runs `bench/bench.py` twice, as the environment is and with the OpenBLAS variables unset, "
             "then `bench/report.py`). Every contender runs in one process on the same data with 2 "
             "threads; epochs alternate between contenders and each figure is a median after a warm-up. "
             "Machines here are shared and noisy: compare ratios within a run, not figures across runs.",
             "", "![benchmarks](bench/benchmarks.png)", ""]
    for (_, r), title in zip(results, titles):
        lines += section(r, title)
    notes = ROOT / "bench" / "NOTES.md"
    if notes.exists():
        lines += [notes.read_text()]
    web_load = ROOT / "bench" / "results" / "load.json"
    if web_load.exists():  # the last `make bench-web`, kept when the engine figures are redone
        from load_test import markdown

        lines += [markdown(json.loads(web_load.read_text()))]
    (ROOT / "BENCHMARKS.md").write_text("\n".join(lines))
    bar_chart(results, ROOT / "bench" / "benchmarks.png")
    print(f"wrote {ROOT / 'BENCHMARKS.md'} and {ROOT / 'bench' / 'benchmarks.png'}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main(sys.argv[1:]))
