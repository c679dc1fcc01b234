"""Page views: thin, over workflow/ services (and web.case_data for case data)."""
