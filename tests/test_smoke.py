def test_login_and_home(login):
    client = login("analyst")
    page = client.get("/")
    assert page.status_code == 200
    assert "analyst" in page.get_data(as_text=True)
