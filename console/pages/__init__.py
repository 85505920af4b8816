"""Console pages: one module per page, layout only (handlers live in ``console.state``)."""
