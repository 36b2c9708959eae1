"""The `features` section: which input columns the model reads, and as what kind."""
from __future__ import annotations

from typing import Optional

import pydantic

from components.config._strict import Strict


class FeaturesConfig(Strict):
  """The input columns, by how Transform prepares them; a column appears once."""
  numeric: tuple[str, ...] = pydantic.Field(
      ("trip_miles", "fare", "trip_seconds"),
      description="Number columns, scaled to z-scores; a missing value becomes 0, the "
                  "column's mean.")
  categorical: tuple[str, ...] = pydantic.Field(
      ("payment_type", "company", "trip_start_hour", "trip_start_day",
       "trip_start_month", "pickup_community_area", "dropoff_community_area"),
      description="Columns of categories (text or integer codes), looked up in a vocabulary "
                  "learnt from the train split and embedded; a missing value is a category "
                  "of its own.")
  coordinates: tuple[str, ...] = pydantic.Field(
      ("pickup_latitude", "pickup_longitude", "dropoff_latitude", "dropoff_longitude"),
      description="Latitude/longitude-like columns, bucketized by quantiles "
                  "(transform.coordinate_buckets) and embedded; a missing value gets a "
                  "bucket of its own.")
  image: Optional[str] = pydantic.Field(
      None, description="The column of encoded image bytes (JPEG, PNG, BMP or GIF), with "
                        "data.images and model.base; the model decodes them itself, in "
                        "training and serving alike.")

  def all(self) -> tuple[str, ...]:
    return self.numeric + self.categorical + self.coordinates + (
        (self.image,) if self.image else ())
