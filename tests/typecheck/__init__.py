"""
Code written as ratchetpy's users write it, for L{tests.test_typing}, which
type-checks it with mypy; it is never run.
"""
