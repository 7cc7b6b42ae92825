"""Algorithm 1 of the paper as a Graphviz picture (kept apart from plotly so the Start page loads fast), optionally
with the step a run is at highlighted (the Run page: skip test / λ search / accept test / next candidate)."""

ALGORITHM_STEPS = {"next": "next candidate", "skip": "skip test", "search": "λ search", "accept": "accept test"}
_NODES = {
    "sort": ('box', "Sort ingredients θ₀…θₙ₋₁ by ValAcc (descending)", "#f4f6fb"),
    "init": ('box', "Ψ ← θ₀ (best ingredient),  k ← 1", "#f4f6fb"),
    "next": ('box', "next candidate θᵢ", "#fff3d6"),
    "approx": ('box', "approximate average  Ψ̃ = k/(k+1)·Ψ + 1/(k+1)·θᵢ", "#f4f6fb"),
    "skip": ('diamond', "ValAcc(Ψ̃) > τ·ValAcc(Ψ) ?", "#e8eefc"),
    "search": ('box', "per component j:  Ψ'(λ)ʲ = λʲ·Ψʲ + (1−λʲ)·θᵢʲ\\nλ* = argmax ValAcc(Ψ'(λ))  (Nevergrad, budget)", "#f4f6fb"),
    "accept": ('diamond', "ValAcc(Ψ'(λ*)) > ValAcc(Ψ) ?", "#e8eefc"),
    "mix": ('box', "Ψ ← Ψ'(λ*),  k ← k+1   (accepted)", "#dff3e0"),
    "done": ('box', "return fused model Ψ", "#dff3e0"),
}
_EDGES = """
  sort -> init -> next -> approx -> skip;
  skip -> search [label="promising"];
  skip -> next [label="skipped", style=dashed];
  search -> accept;
  accept -> mix [label="yes"];
  accept -> next [label="rejected", style=dashed];
  mix -> next;
  next -> done [label="no candidates left", style=dotted];
"""
ACTIVE_COLOUR = "#ffb000"  # amber: stands out for every kind of colour vision


def algorithm_dot(step: str | None = None) -> str:
    """The flowchart in DOT, text large enough for a projector; the node of `step` (a key of ALGORITHM_STEPS) lit."""
    nodes = "\n".join(
        f'  {key} [shape={shape}, label="{label}", fillcolor="{ACTIVE_COLOUR if key == step else fill}"'
        + (', penwidth=3' if key == step else '') + "];"
        for key, (shape, label, fill) in _NODES.items())
    return ('digraph algorithm1 {\n  rankdir=TB; node [style="rounded,filled", fontname="Helvetica", fontsize=18];\n'
            f'  edge [fontname="Helvetica", fontsize=16];\n{nodes}\n{_EDGES}}}\n')
