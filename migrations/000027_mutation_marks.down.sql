DROP TRIGGER mutation_marks_keep ON mutations;
DROP FUNCTION mutation_marks_keep();
DROP TABLE mutation_marks;
