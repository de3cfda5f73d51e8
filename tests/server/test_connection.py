

def test_numberConnectionsAsAWorker():
    """
    Worker k of N numbers its connections k, k + N, ...; numbers outside 1..N are refused.
    """
    import pytest

    from ratchetpy.server import connection

    saved = connection._resourceIds
    try:
        connection.numberConnectionsAs(2, 3)
        assert [next(connection._resourceIds) for _ in range(3)] == [2, 5, 8]
        with pytest.raises(ValueError, match="numbered from 1 to 3"):
            connection.numberConnectionsAs(4, 3)
    finally:
        connection._resourceIds = saved
