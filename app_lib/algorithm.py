"""Algorithm 1 of the paper as a Graphviz picture (kept apart from plotly so the Start page loads fast), optionally
with the step a run is at highlighted (the Run page: skip test / λ search / accept test / next candidate)."""

ALGORITHM_STEPS = {"next": "next candidate", "skip": "skip test", "search": "λ search", "accept": "accept test"}
_NODES = {
    "sort": ('box', "Sort ingredients θ₀…θₙ₋₁\\nby ValAcc (descending)", "#f4f6fb"),
    "init": ('box', "Ψ ← θ₀ (best ingredient)\\nk ← 1", "#f4f6fb"),
    "next": ('box', "next candidate θᵢ", "#fff3d6"),
    "approx": ('box', "approximate average\\nΨ̃ = k/(k+1)·Ψ + 1/(k+1)·θᵢ", "#f4f6fb"),
    "skip": ('hexagon', "ValAcc(Ψ̃) >\\nτ·ValAcc(Ψ) ?", "#e8eefc"),
    "search": ('box', "per component j:\\nΨ'(λ)ʲ = λʲ·Ψʲ + (1−λʲ)·θᵢʲ\\nλ* = argmax ValAcc(Ψ'(λ))\\n(Nevergrad, budget)", "#f4f6fb"),
    "accept": ('hexagon', "ValAcc(Ψ'(λ*)) >\\nValAcc(Ψ) ?", "#e8eefc"),
    "mix": ('box', "accepted:\\nΨ ← Ψ'(λ*), k ← k+1", "#dff3e0"),
    "done": ('box', "return fused\\nmodel Ψ", "#dff3e0"),
}
_EDGES = """
  sort -> init -> next -> approx -> skip [weight=8];
  skip -> search [label="promising", weight=8];
  skip -> next [taillabel="skipped", labelangle=-35, labeldistance=3.2, style=dashed];
  search -> accept [weight=8];
  accept -> mix [label="yes", weight=8];
  accept -> next [taillabel="rejected", labelangle=-35, labeldistance=3.2, style=dashed];
  mix -> next;
  next -> done [label=" none left", style=dotted];
"""
ACTIVE_COLOUR = "#ffb000"  # amber: stands out for every kind of colour vision


def algorithm_dot(step: str | None = None) -> str:
    """The flowchart in DOT, text large enough for a projector; the node of `step` (a key of ALGORITHM_STEPS) lit.

    The page scales the drawing to its column, so the text is only as large as the layout is narrow: labels wrap,
    decisions are hexagons (a diamond is twice its text's width), and the loops carry their labels at their tails.
    """
    nodes = "\n".join(
        f'  {key} [shape={shape}, label="{label}", fillcolor="{ACTIVE_COLOUR if key == step else fill}"'
        + (', penwidth=3' if key == step else '') + "];"
        for key, (shape, label, fill) in _NODES.items())
    return ('digraph algorithm1 {\n  rankdir=TB; nodesep=0.15; ranksep=0.35; node [style="rounded,filled", fontname="Helvetica", fontsize=18];\n'
            f'  edge [fontname="Helvetica", fontsize=18];\n{nodes}\n{_EDGES}}}\n')
