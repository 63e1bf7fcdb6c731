"""Every response says how long the app took to build it (Server-Timing), errors included."""

from scanapp.headers import server_ms


def test_every_response_carries_the_apps_own_time(app):
    client = app.test_client()
    for path, status in (("/api/v1/openapi.json", 200), ("/no-such-page", 404), ("/api/v1/stock", 401)):
        response = client.get(path)
        assert response.status_code == status
        assert response.headers["Server-Timing"].startswith("app;dur=")
        assert 0 < server_ms(response) < 10_000
