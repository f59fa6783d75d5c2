"""Partner API v1 routes (placeholder, see issue 2)."""

app_name = "api"
urlpatterns: list = []
