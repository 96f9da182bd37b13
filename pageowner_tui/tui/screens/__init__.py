"""Screens pushed over the main view: help, prompts, stack detail, PFN ranges."""
