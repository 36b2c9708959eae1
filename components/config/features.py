"""The `features` section: which input columns the model reads, and as what kind."""
from __future__ import annotations

from typing import Optional

from components.config._strict import Strict


class FeaturesConfig(Strict):
  numeric: tuple[str, ...] = ("trip_miles", "fare", "trip_seconds")
  categorical: tuple[str, ...] = (
      "payment_type", "company", "trip_start_hour", "trip_start_day",
      "trip_start_month", "pickup_community_area", "dropoff_community_area")
  # Latitude/longitude-like columns: bucketized by quantiles.
  coordinates: tuple[str, ...] = (
      "pickup_latitude", "pickup_longitude", "dropoff_latitude",
      "dropoff_longitude")

  # The column of encoded image bytes (JPEG, PNG, BMP or GIF), with data.images.
  image: Optional[str] = None

  def all(self) -> tuple[str, ...]:
    return self.numeric + self.categorical + self.coordinates + (
        (self.image,) if self.image else ())
