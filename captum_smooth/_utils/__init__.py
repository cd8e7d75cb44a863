"""What every layer of the package shares.

Argument checks and the one shim over Captum's private helpers. Nothing here imports from the
rest of the package.
"""
