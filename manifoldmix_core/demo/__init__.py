"""Embedded demo world: a procedurally generated stand-in for ImageNet and its five OOD shifts."""
