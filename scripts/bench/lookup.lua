-- wrk: linearizable lookups of the bench product.
wrk.method = "GET"
wrk.path = "/products/Bench"
