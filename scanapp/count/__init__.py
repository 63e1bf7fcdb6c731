"""Stocktakes (盘点): blind mobile counts and cycle counts, variances with thresholds, supervisor
approval, recounts, and the adjustments they post to the ledger. Models in `models`, the work in
`services`; the JSON API is `scanapp.api.counts`."""
