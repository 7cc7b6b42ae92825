"""ManifoldMix Studio: Streamlit entry point (the full app lands with the app issue)."""

import streamlit as st

st.set_page_config(page_title="ManifoldMix Studio", layout="wide")
st.title("ManifoldMix Studio")
st.write("Manifold mixing model soups: the engine is available as `python -m manifoldmix_core run CONFIG --run-dir DIR`.")
