"""The flask commands call the same services as the views."""

from scanapp.extensions import db


def test_init_db_is_safe_to_run_twice(runner):
    assert runner.invoke(args=["init-db"]).exit_code == 0
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0, result.output


def test_seed_demo_prints_passwords(app, runner):
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert "admin" in result.output and "worker" in result.output and "supervisor" in result.output


def test_seed_demo_loads_once_and_keeps_passwords_in_a_private_file(app, runner, tmp_path):
    result = runner.invoke(args=["seed-demo", "--passwords-file", str(tmp_path / "pw.txt")])
    assert result.exit_code == 0, result.output
    assert "pw.txt" in result.output
    assert (tmp_path / "pw.txt").stat().st_mode & 0o077 == 0
    assert runner.invoke(args=["seed-demo"]).output.strip() == "demo data already loaded"
    password = (tmp_path / "pw.txt").read_text().splitlines()[0].split()[1]
    with app.app_context():
        from scanapp.auth import services
        from scanapp.inventory import queries

        assert services.authenticate("admin", password) is not None
        item = queries.item_by_sku("TEA-GRN-250")
        assert item.lot_tracked and len(item.barcodes) == 2
        assert queries.on_hand(item.id) > 0
        db.session.rollback()
    assert runner.invoke(args=["ledger-check"]).exit_code == 0


def test_create_user_and_token(app, runner):
    result = runner.invoke(args=["create-user", "ivy", "--role", "supervisor", "--password", "long enough pw"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["create-user", "ivy", "--role", "worker", "--password", "long enough pw"])
    assert result.exit_code != 0 and "already exists" in result.output
    token = runner.invoke(args=["create-token", "ivy"]).output.strip()
    assert token.startswith("sa_") and "\n" not in token
    r = app.test_client().get("/api/v1/stock", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    assert runner.invoke(args=["create-token", "nobody"]).exit_code != 0


def test_import_items_all_or_nothing(app, runner, tmp_path):
    good = tmp_path / "items.csv"
    good.write_text("sku,name,barcodes,uom,lot_tracked,unit_cost\n"
                    "A-1,Apple 苹果,6901234500011|16901234500018*12,kg,yes,3.5\n"
                    "B-2,=Formula-looking name,,pcs,,\n", encoding="utf-8")
    result = runner.invoke(args=["import-items", str(good)])
    assert result.exit_code == 0, result.output
    assert "imported 2 items" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("sku,name\nC-3,Fine\nA-1,Duplicate\n", encoding="utf-8")
    result = runner.invoke(args=["import-items", str(bad)])
    assert result.exit_code != 0 and "line 3" in result.output
    with app.app_context():
        from scanapp.inventory import queries

        assert queries.item_by_sku("C-3") is None  # nothing from the failed file
        assert queries.item_by_sku("B-2").name == "=Formula-looking name"
        assert queries.item_by_sku("A-1").barcodes[1].pack_qty == 12
        db.session.rollback()
