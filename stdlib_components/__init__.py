"""The standard component library of pipefile (`component: std/NAME@MAJOR` in a Pipefile).

Each component is a folder holding `component.yaml` (its interface: typed inputs, outputs and
params with defaults, a description and a version) and `__main__.py` (its script, run as
`python -m stdlib_components.FOLDER`). `_lib/` is what the scripts share: reading and writing
tables, errors that name the step, the component and the parameter, and the model folder format.
"""
