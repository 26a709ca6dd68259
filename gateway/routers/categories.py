"""/v1/categories → omnipricex.product.v1.CategoryService."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from gateway.deps import PricingManager, Viewer
from gateway.openapi import PROTECTED, problems
from gateway.responses import JsonResponse
from gateway.schemas.products import Category, CategoryList, CategoryPatch, NewCategory
from gateway.translate.products import category_json, category_message, category_patch_message
from omnipricex.product.v1 import product_pb2

router = APIRouter(prefix="/v1", tags=["categories"], responses=PROTECTED, default_response_class=JsonResponse)
CategoryId = Annotated[str, Path(min_length=1, max_length=128, description="The category's id.")]


@router.get("/categories", response_model=CategoryList, summary="The whole category tree (viewer)")
async def list_categories(caller: Viewer) -> Response:
    response = await caller.stubs.categories.ListCategories(
        product_pb2.ListCategoriesRequest(), metadata=caller.metadata, timeout=caller.deadline
    )
    return JsonResponse({"items": [category_json(item) for item in response.categories]})


@router.post(
    "/categories",
    response_model=Category,
    status_code=201,
    responses=problems(404, 409),
    summary="Create a category (pricing manager)",
)
async def create_category(body: NewCategory, caller: PricingManager) -> Response:
    response = await caller.stubs.categories.CreateCategory(
        product_pb2.CreateCategoryRequest(category=category_message(body)),
        metadata=caller.metadata,
        timeout=caller.deadline,
    )
    return JsonResponse(category_json(response.category), status_code=201)


@router.patch(
    "/categories/{category_id}",
    response_model=Category,
    responses=problems(404, 409),
    summary="Rename or move a category (pricing manager)",
    description="JSON merge patch: `name` renames; `parent_id` moves it (null makes it a root).",
)
async def update_category(category_id: CategoryId, patch: CategoryPatch, caller: PricingManager) -> Response:
    category, mask = category_patch_message(category_id, patch)
    response = await caller.stubs.categories.UpdateCategory(
        product_pb2.UpdateCategoryRequest(category=category, update_mask=mask),
        metadata=caller.metadata,
        timeout=caller.deadline,
    )
    return JsonResponse(category_json(response.category))


@router.delete(
    "/categories/{category_id}",
    status_code=204,
    response_class=Response,
    responses=problems(404, 409),
    summary="Delete a category without children or products (pricing manager)",
)
async def delete_category(category_id: CategoryId, caller: PricingManager) -> Response:
    await caller.stubs.categories.DeleteCategory(
        product_pb2.DeleteCategoryRequest(id=category_id), metadata=caller.metadata, timeout=caller.deadline
    )
    return Response(status_code=204)
