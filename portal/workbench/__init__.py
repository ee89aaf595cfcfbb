"""The RM workbench: book of business, tasks, contacts, opportunities, notifications."""
