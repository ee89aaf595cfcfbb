"""The fixtures work end to end: sign in with a session, and with a token."""


def test_an_rm_signs_in_and_lands_on_the_agenda(client, users, login):
    response = login("rm1")
    assert response.status_code == 302 and response.location.endswith("/agenda")
    assert client.get("/agenda").status_code == 200


def test_an_analyst_signs_in_and_lands_on_the_search_page(client, users, login):
    response = login("analyst")
    assert response.status_code == 302 and response.location.endswith("/")
    assert client.get("/").status_code == 200


def test_a_token_is_issued_for_valid_credentials(client, users, token):
    assert token("rm1").count(".") == 2
