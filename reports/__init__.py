"""What the toolkit tells people: console tables now, the HTML mismatch report later."""
