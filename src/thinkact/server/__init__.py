"""thinkact.server: HTTP faces of thinkact (``openai_app``: OpenAI-compatible model server)."""
