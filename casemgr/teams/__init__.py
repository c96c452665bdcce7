"""Teams: named groups of users (a lead, members, a contact address) that cases are handed to."""
