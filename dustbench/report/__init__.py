"""Leaderboards from evaluation results (:mod:`.leaderboard`, :mod:`.plots`), and the published
board from one command (:mod:`.reproduce`, with its recipe in :mod:`.recipe` and its own sections in
:mod:`.sections`)."""
