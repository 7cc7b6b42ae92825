"""Algorithm 1 of the paper as a Graphviz picture (kept apart from plotly so the Start page loads fast)."""

ALGORITHM_DOT = """
digraph algorithm1 {
  rankdir=TB; node [shape=box, style="rounded,filled", fillcolor="#f4f6fb", fontname="Helvetica", fontsize=11];
  sort [label="Sort ingredients θ₀…θₙ₋₁ by ValAcc (descending)"];
  init [label="Ψ ← θ₀ (best ingredient),  k ← 1"];
  next [label="next candidate θᵢ", fillcolor="#fff3d6"];
  approx [label="approximate average  Ψ̃ = k/(k+1)·Ψ + 1/(k+1)·θᵢ"];
  skip [shape=diamond, label="ValAcc(Ψ̃) > τ·ValAcc(Ψ) ?", fillcolor="#e8eefc"];
  opt [label="per component j:  Ψ'(λ)ʲ = λʲ·Ψʲ + (1−λʲ)·θᵢʲ\\nλ* = argmax ValAcc(Ψ'(λ))  (Nevergrad, budget)"];
  accept [shape=diamond, label="ValAcc(Ψ'(λ*)) > ValAcc(Ψ) ?", fillcolor="#e8eefc"];
  mix [label="Ψ ← Ψ'(λ*),  k ← k+1   (accepted)", fillcolor="#dff3e0"];
  done [label="return fused model Ψ", fillcolor="#dff3e0"];
  sort -> init -> next -> approx -> skip;
  skip -> opt [label="promising"];
  skip -> next [label="skipped", style=dashed];
  opt -> accept;
  accept -> mix [label="yes"];
  accept -> next [label="rejected", style=dashed];
  mix -> next;
  next -> done [label="no candidates left", style=dotted];
}
"""
