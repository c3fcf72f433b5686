"""watch's own parts: the file watcher's bursts of changes to the targets' inputs, each burst's plan (what
is synced, what rebuilt), and the turns of its loop."""
