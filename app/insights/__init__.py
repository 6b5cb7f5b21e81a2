"""Insights: what the brand learns from what happened. Reports and their rollups (taps,
activation, journeys, rewards, messages), integrity alerts (grey market, clone suspects,
stolen items seen) and the lift of a reward against its holdout. Like the other domains it
reads the event tables and imports no other domain; its statistics (``app.insights.lift``)
are pure functions of counts."""
