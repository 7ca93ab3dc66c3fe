"""The alert notifier: a small Lambda subscribed to an alerts topic that posts each alert to a
chat webhook (Slack's incoming-webhook format) so the team reads a message, not raw JSON."""
