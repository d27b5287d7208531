"""The member's bill page, a small public web app apart from the admin API (`telebill web
serve`): one bill shown to whoever holds its signed link."""
