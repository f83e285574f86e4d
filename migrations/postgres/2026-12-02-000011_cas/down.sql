DROP TABLE cas_tickets;
DROP TABLE cas_services;
