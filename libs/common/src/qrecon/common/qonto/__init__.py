"""Speaking Qonto: the webhook signature format and (later) the API client."""
