"""
Publish/subscribe channels across connections, processes and machines.
"""
