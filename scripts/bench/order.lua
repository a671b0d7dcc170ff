-- wrk: one-unit orders of the bench product (each request gets a node-generated request id).
wrk.method = "POST"
wrk.path = "/orders"
wrk.body = '{"name": "Bench", "quantity": 1}'
wrk.headers["Content-Type"] = "application/json"
