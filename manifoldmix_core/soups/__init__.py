"""The methods' algorithms, one module each (registered by name in methods.py), and the kitchen they share."""
