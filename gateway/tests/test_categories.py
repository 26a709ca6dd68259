"""Categories through the gateway: the tree, merge patches to rename and move, delete."""

from __future__ import annotations

import httpx

from gateway.schemas.products import Category
from gateway.tests.conftest import Mesh
from gateway.tests.support import assert_conforms, assert_problem
from runtime.auth import Role


async def test_create_list_rename_move_delete(mesh: Mesh, client: httpx.AsyncClient) -> None:
    writer = mesh.auth(Role.PRICING_MANAGER)

    root = await client.post("/v1/categories", json={"name": "Kitchen"}, headers=writer)
    assert root.status_code == 201, root.text
    assert_conforms(Category, root.json())
    assert root.json()["parent_id"] is None
    child = await client.post(
        "/v1/categories", json={"name": "Kettles", "parent_id": root.json()["id"]}, headers=writer
    )
    assert child.json()["parent_id"] == root.json()["id"]

    listed = await client.get("/v1/categories", headers=mesh.auth(Role.VIEWER))
    assert [item["name"] for item in listed.json()["items"]] == ["Kitchen", "Kettles"]

    child_id = child.json()["id"]
    renamed = await client.patch(f"/v1/categories/{child_id}", json={"name": "Electric kettles"}, headers=writer)
    assert renamed.json() == {"id": child_id, "name": "Electric kettles", "parent_id": root.json()["id"]}
    moved = await client.patch(f"/v1/categories/{child_id}", json={"parent_id": None}, headers=writer)
    assert moved.json() == {"id": child_id, "name": "Electric kettles", "parent_id": None}

    deleted = await client.delete(f"/v1/categories/{child_id}", headers=writer)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_problem(await client.delete(f"/v1/categories/{child_id}", headers=writer), 404)


async def test_refusals(mesh: Mesh, client: httpx.AsyncClient) -> None:
    writer = mesh.auth(Role.PRICING_MANAGER)
    root = (await client.post("/v1/categories", json={"name": "Garden"}, headers=writer)).json()
    await client.post("/v1/categories", json={"name": "Hoses", "parent_id": root["id"]}, headers=writer)

    with_children = assert_problem(await client.delete(f"/v1/categories/{root['id']}", headers=writer), 400)
    assert with_children["grpc_code"] == "FAILED_PRECONDITION"
    null_name = assert_problem(
        await client.patch(f"/v1/categories/{root['id']}", json={"name": None}, headers=writer), 422
    )
    assert null_name["errors"][0]["field"] == "name"
    unknown_parent = await client.post("/v1/categories", json={"name": "x", "parent_id": "cat_nope"}, headers=writer)
    assert_problem(unknown_parent, 404)
