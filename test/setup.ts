// Decorators from type-graphql and MikroORM read metadata through this polyfill.
import 'reflect-metadata';
