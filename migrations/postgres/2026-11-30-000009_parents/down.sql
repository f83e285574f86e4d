DROP TABLE parent_links;
