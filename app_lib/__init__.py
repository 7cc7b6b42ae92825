"""Non-UI logic of the ManifoldMix Studio app: run listing and launching, figure data, path checks.

Pages stay thin; everything here is plain Python (plus pandas/plotly) so it is unit-testable
without Streamlit, and never imports torch at module level so the app starts fast.
"""
