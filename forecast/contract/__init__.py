"""The data contract: the columns of sales and products, the declared hierarchy, the quantile grids,
sample paths, and the rules that sort products into segments."""
