"""
Example components for ratchetpy; run one with
C{twistd -n ratchetpy --component examples.chat:Chat}.
"""
