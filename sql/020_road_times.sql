-- Travel time by road (dispatch/roads.py). An assignment the dispatcher made says which
-- ranking chose the unit: 'road' (the fastest by the road network among the geodesically
-- nearest) or 'geodesic' (no routing data, or the engine failed or was over its budget).
-- With 'road', road_distance_m and road_eta_s are the engine's and eta_s is the road ETA;
-- distance_m stays the straight line. Assignments made by hand leave ranked_by NULL.
ALTER TABLE assignments
    ADD COLUMN ranked_by text CHECK (ranked_by IN ('road', 'geodesic')),
    ADD COLUMN road_distance_m double precision CHECK (road_distance_m >= 0),
    ADD COLUMN road_eta_s integer CHECK (road_eta_s >= 0),
    ADD CONSTRAINT assignments_road_ranked CHECK (
        (ranked_by = 'road') = (road_eta_s IS NOT NULL AND road_distance_m IS NOT NULL));
