"""Configuration: the forecast options (``options``) and the scheduled pipeline's settings file
(``settings``)."""
