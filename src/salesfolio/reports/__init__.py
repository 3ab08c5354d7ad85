"""Reports: console summaries, exports, the HTML data-quality report and (later) the board pack."""
