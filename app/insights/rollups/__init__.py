"""The rollups kept current from event tables: taps (``taps``), what followed a journey's
decision, service requests and resales (``actions``); what they share (``common``).
``app.insights.refresh`` runs them in order."""
