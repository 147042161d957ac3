"""The head: a template (neutral mesh + ARKit blendshape basis, the linear decoder) and what it looks
like."""
